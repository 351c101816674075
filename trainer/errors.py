"""The one error type the trainer raises for the command line."""


class TrainerError(Exception):
    """Input or settings that cannot be used; one line for the user.

    `exit_code` is 2 for bad input or usage, 1 for failures outside the user's input (network).
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
