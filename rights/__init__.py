"""The credit subject's rights: list notices, objections, repairs, self-reports and their attachments."""
