"""factory_boy factories for the platform's data. Cases are not made here: they follow from
incidents through the intake services, as in production (see ``tests/helpers.py``)."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import factory

from mahnwerk.intake.models import Buyer, Order, Product, Vendor
from mahnwerk.intake.services import normalize_email

BERLIN = ZoneInfo("Europe/Berlin")


class VendorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vendor
        django_get_or_create = ("vendor_id",)

    vendor_id = factory.Sequence(lambda n: f"V{48000 + n}")
    name = factory.Faker("company", locale="de_DE")
    email = factory.Sequence(lambda n: f"vendor{n}@example.com")
    enrolled = True
    collection_mode = "approval"
    dunning_by = "in_house"


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("product_id",)

    product_id = factory.Sequence(lambda n: f"P{77000 + n}")
    vendor = factory.SubFactory(VendorFactory)
    name = factory.Sequence(lambda n: f"Online-Kurs {n}")
    dunning_enabled = True
    checkout_url = factory.LazyAttribute(lambda p: f"https://checkout.example/p/{p.product_id}")


class BuyerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Buyer
        django_get_or_create = ("buyer_id",)

    buyer_id = factory.Sequence(lambda n: f"B{10000 + n}")
    email = factory.Sequence(lambda n: f"kaeufer{n}@example.org")
    email_normalized = factory.LazyAttribute(lambda b: normalize_email(b.email))
    first_name = "Erika"
    last_name = "Mustermann"


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    order_id = factory.Sequence(lambda n: f"O{100000 + n}")
    product = factory.SubFactory(ProductFactory)
    vendor = factory.LazyAttribute(lambda o: o.product.vendor)
    buyer = factory.SubFactory(BuyerFactory)
    buyer_email = factory.LazyAttribute(lambda o: o.buyer.email)
    buyer_email_normalized = factory.LazyAttribute(lambda o: normalize_email(o.buyer_email))
    buyer_first_name = "Erika"
    buyer_last_name = "Mustermann"
    street = "Heidestraße"
    house_number = "17"
    postcode = "51147"
    city = "Köln"
    country = "DE"
    payment_type = "installments"
    amount_total = Decimal("600.00")
    currency = "EUR"
    installments_total = 6
    installments_paid = 2
    created_at = datetime(2025, 5, 2, 10, 0, tzinfo=BERLIN)
