"""The regulator's desk: one queue over every kind of case (with clocks and assignees) and the overview."""
