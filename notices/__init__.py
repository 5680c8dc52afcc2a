"""The resident's inbox of notices, and the WeChat subscribe messages that echo them."""
