"""信易批: matters accepted on a resident's credit commitment, with a deadline; broken ones become records."""
