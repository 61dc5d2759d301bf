"""A mail server that is down, for the pages and services that send mail."""

import pytest


class RefusingMailServer:
    """An email backend whose server refuses every message, as a down SMTP relay does."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def send_messages(self, messages) -> int:
        raise ConnectionRefusedError(111, "Connection refused")


@pytest.fixture
def mail_server_down(settings) -> None:
    """Every message this test sends is refused by the mail server."""
    settings.EMAIL_BACKEND = f"{__name__}.{RefusingMailServer.__name__}"
