"""Offers of merchants (terms, the regulator's approval, benefits) and their stock: pending units and the fold."""
