"""The public forms: signing up, and asking to be removed.

A plain Form rather than a ModelForm on purpose: a ModelForm would check the unique-email
constraint and tell the visitor the address is already on the list. A duplicate must look exactly
like success; `signup_create()` handles it without a second row. Bounds come from the model.
The removal form, likewise, never looks the address up.
"""

from django import forms

from waitlist.models import Signup, phone_validator


def _bounded(name: str, **kwargs) -> forms.Field:
    """The model field's form field (label, max_length, required) with our widget and messages."""
    return Signup._meta.get_field(name).formfield(**kwargs)


def _honeypot() -> forms.Field:
    """Hidden from people by CSS and from screen readers; bots fill every field."""
    return forms.CharField(
        required=False,
        label="Leave this field empty",
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )


class HoneypotMixin:
    """For a form with a `website` honeypot field (`_honeypot()`)."""

    def is_bot(self) -> bool:
        """True when the honeypot was filled in: only a bot sees that field."""
        return bool(self.data.get("website", "").strip())


def _email() -> forms.Field:
    """The address field both public forms ask for, with the same words on both."""
    return _bounded(
        "email",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={
            "required": "Please enter your email address.",
            "invalid": "Please enter a valid email address.",
        },
    )


class SignupForm(HoneypotMixin, forms.Form):
    full_name = _bounded(
        "full_name",
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        error_messages={"required": "Please tell us your name."},
    )
    email = _email()
    phone = _bounded(
        "phone",
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
        validators=[phone_validator],
    )
    city = _bounded(
        "city",
        widget=forms.TextInput(attrs={"autocomplete": "address-level2"}),
    )
    country = _bounded(
        "country",
        widget=forms.TextInput(attrs={"autocomplete": "country-name"}),
    )
    message = _bounded(
        "message",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Up to 1000 characters.",
    )
    consent = forms.BooleanField(
        required=True,
        label="I agree to be contacted about this waitlist.",
        error_messages={"required": "Please tick the box to join the waitlist."},
    )
    website = _honeypot()

    def signup_fields(self) -> dict:
        """The cleaned values that belong on a Signup (everything but the honeypot)."""
        return {name: value for name, value in self.cleaned_data.items() if name != "website"}


class ErasureRequestForm(HoneypotMixin, forms.Form):
    """The address a fan wants removed; the link to confirm goes to it, listed or not."""

    email = _email()
    website = _honeypot()
