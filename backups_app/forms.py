"""Forms of the backups app's admin pages."""

from django import forms
from django.core.exceptions import ValidationError

from backups_app.engines.base import ExactConfirmation


class RestoreForm(forms.Form):
    """What the restore confirmation page posts: one operation and, for those that change data,
    what the person typed to confirm it.

    "compare" changes nothing and needs nothing typed. "merge", "restore" and "restore_exact"
    need the backup's name typed exactly; "restore_exact" also needs the page to have been
    compared (the newest live signup it saw and the number it would remove) and that number
    typed. Nothing is valid by accident: a wrong or missing confirmation is a form error, and
    the view then changes nothing; the restore itself refuses to remove more than that number,
    or any signup newer than the newest one the page saw.
    """

    COMPARE = "compare"
    MERGE = "merge"
    RESTORE = "restore"
    RESTORE_EXACT = "restore_exact"
    CHANGES_DATA = {MERGE, RESTORE, RESTORE_EXACT}

    operation = forms.ChoiceField(
        choices=[
            (COMPARE, "Compare with live"),
            (MERGE, "Bring back missing signups only"),
            (RESTORE, "Restore this backup"),
            (RESTORE_EXACT, "Restore exactly"),
        ],
        error_messages={"required": "Choose what to do.", "invalid_choice": "Choose what to do."},
    )
    confirm_name = forms.CharField(required=False)
    include_accounts = forms.BooleanField(required=False)
    confirm_count = forms.CharField(required=False)
    # A string, not an IntegerField: anything but digits means "not compared", not a type error.
    newest_live_id = forms.CharField(required=False)
    later = forms.CharField(required=False)

    def __init__(self, data, *, backup_name: str) -> None:
        super().__init__(data)
        self.backup_name = backup_name

    def clean(self) -> dict:
        cleaned = super().clean()
        operation = cleaned.get("operation")
        if operation not in self.CHANGES_DATA:
            return cleaned
        if cleaned.get("confirm_name") != self.backup_name:
            raise ValidationError(
                "The name you typed does not match this backup; nothing was changed.",
                code="name_mismatch",
            )
        if operation == self.RESTORE_EXACT:
            later = cleaned.get("later", "")
            if not (later.isdigit() and cleaned.get("newest_live_id", "").isdigit()):
                raise ValidationError(
                    "Compare with live first; nothing was changed.", code="not_compared"
                )
            if cleaned.get("confirm_count") != later:
                raise ValidationError(
                    f"To remove the {later} signup(s) this backup lacks, type that "
                    f"number; nothing was changed.",
                    code="count_mismatch",
                )
        return cleaned

    def error_summary(self) -> str:
        """Every error in one line, for the page's error note."""
        return " ".join(message for errors in self.errors.values() for message in errors)

    def exact_confirmation(self) -> ExactConfirmation:
        """What the person allowed an exact restore to remove: the number they typed, and no
        signup newer than the newest one the compared page showed them."""
        return ExactConfirmation(
            removes=int(self.cleaned_data["later"]),
            newest_id=int(self.cleaned_data["newest_live_id"]),
        )
