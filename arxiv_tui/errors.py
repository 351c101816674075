"""The base of every error the command line reports as one line with its own exit status."""


class ReportedError(Exception):
    """A failure the user can act on; the message is one line for them.

    `exit_code` is 2 when their input (a name, a file, a setting) is at fault, 1 otherwise
    (the network, for one).
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
