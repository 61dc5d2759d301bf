"""factory_boy factories for test data."""

import factory

from waitlist.models import Signup


class SignupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Signup

    full_name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"fan{n}@example.com")
    city = factory.Faker("city")
    country = factory.Faker("country")
    consent = True
