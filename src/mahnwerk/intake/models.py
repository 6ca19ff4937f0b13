"""The checkout platform's data, as it sends it (docs/file-formats.md, platform-feed.md).

Every record is keyed by the platform's own id, so the platform ids are the primary keys and the
foreign-key columns hold them directly: an import can upsert a row without looking anything up.
This app knows nothing of letters or agencies.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CollectionMode(models.TextChoices):
    APPROVAL = "approval", _("ask for approval")
    DIRECT = "direct", _("direct (pre-marked orders)")


class DunningBy(models.TextChoices):
    IN_HOUSE = "in_house", _("in-house")
    AGENCY = "agency", _("agency")


class PaymentType(models.TextChoices):
    ONE_TIME = "one_time", _("one-time payment")
    INSTALLMENTS = "installments", _("installments")
    SUBSCRIPTION = "subscription", _("subscription")


class IncidentKind(models.TextChoices):
    CHARGEBACK = "chargeback", _("chargeback by buyer")
    STOPPED_INSTALLMENTS = "stopped_installments", _("stopped installments")
    ONE_TIME_CHARGEBACK = "one_time_chargeback", _("one-time payment charged back")


class PaymentChannel(models.TextChoices):
    OFFER_LINK = "offer_link", _("offer link")
    AGENCY = "agency", _("agency")
    VENDOR = "vendor", _("vendor")
    OTHER = "other", _("other")


class Vendor(models.Model):
    vendor_id = models.CharField(_("vendor id"), max_length=64, primary_key=True)
    name = models.CharField(_("name"), max_length=255)
    email = models.EmailField(_("e-mail"), max_length=254)
    enrolled = models.BooleanField(_("enrolled in dunning"), default=False)
    collection_mode = models.CharField(
        _("collection mode"), max_length=16, choices=CollectionMode.choices,
        default=CollectionMode.APPROVAL,
    )
    dunning_by = models.CharField(
        _("dunning by"), max_length=16, choices=DunningBy.choices, default=DunningBy.IN_HOUSE
    )
    relationship_manager = models.CharField(_("relationship manager"), max_length=150, blank=True)
    escalation_channel = models.CharField(_("escalation channel"), max_length=255, blank=True)
    #: A digest of the platform's values, to tell an unchanged record at a glance.
    content_hash = models.CharField(max_length=32, blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("vendor")
        verbose_name_plural = _("vendors")
        ordering = ["vendor_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.vendor_id})"


class Product(models.Model):
    product_id = models.CharField(_("product id"), max_length=64, primary_key=True)
    vendor = models.ForeignKey(
        Vendor, on_delete=models.PROTECT, related_name="products", verbose_name=_("vendor"),
        db_column="vendor_id",
    )
    name = models.CharField(_("name"), max_length=255)
    dunning_enabled = models.BooleanField(_("dunning account attached"), default=False)
    checkout_url = models.URLField(_("checkout URL"), max_length=500, blank=True)
    #: A digest of the platform's values, to tell an unchanged record at a glance.
    content_hash = models.CharField(max_length=32, blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["product_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.product_id})"


class Buyer(models.Model):
    """The buyer as last seen on an order; the address of each order is kept on the order."""

    buyer_id = models.CharField(_("buyer id"), max_length=64, primary_key=True)
    email = models.CharField(_("e-mail"), max_length=254, blank=True)
    email_normalized = models.CharField(_("normalised e-mail"), max_length=254, blank=True)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    street = models.CharField(_("street"), max_length=255, blank=True)
    house_number = models.CharField(_("house number"), max_length=32, blank=True)
    postcode = models.CharField(_("postcode"), max_length=16, blank=True)
    city = models.CharField(_("city"), max_length=150, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    last_order_at = models.DateTimeField(_("last order"), null=True, blank=True)
    #: A digest of the platform's values, to tell an unchanged record at a glance.
    content_hash = models.CharField(max_length=32, blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    #: When the buyer's personal data was replaced (``ops.privacy``): retention or erasure.
    anonymised_at = models.DateTimeField(_("anonymised"), null=True, blank=True)

    class Meta:
        verbose_name = _("buyer")
        verbose_name_plural = _("buyers")
        ordering = ["buyer_id"]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name or self.email} ({self.buyer_id})"


class Order(models.Model):
    order_id = models.CharField(_("order id"), max_length=64, primary_key=True)
    # Few indexes on purpose: each one costs on every one of a million inserted orders
    # (docs/benchmarks.md). Reorders are found by buyer id or normalised e-mail, both
    # selective enough on their own; a vendor's or product's debts are reached through cases.
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="orders",
                               verbose_name=_("vendor"), db_column="vendor_id",
                               db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders",
                                verbose_name=_("product"), db_column="product_id",
                                db_index=False)
    buyer = models.ForeignKey(Buyer, on_delete=models.PROTECT, related_name="orders",
                              verbose_name=_("buyer"), db_column="buyer_id")
    buyer_email = models.CharField(_("buyer e-mail"), max_length=254, blank=True)
    buyer_email_normalized = models.CharField(max_length=254, blank=True, db_index=True)
    buyer_first_name = models.CharField(_("first name"), max_length=150, blank=True)
    buyer_last_name = models.CharField(_("last name"), max_length=150, blank=True)
    street = models.CharField(_("street"), max_length=255, blank=True)
    house_number = models.CharField(_("house number"), max_length=32, blank=True)
    postcode = models.CharField(_("postcode"), max_length=16, blank=True)
    city = models.CharField(_("city"), max_length=150, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    payment_type = models.CharField(_("payment type"), max_length=16, choices=PaymentType.choices)
    amount_total = models.DecimalField(_("total amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    installments_total = models.PositiveIntegerField(_("installments in total"), null=True,
                                                     blank=True)
    installments_paid = models.PositiveIntegerField(_("installments paid"), null=True, blank=True)
    created_at = models.DateTimeField(_("ordered at"))
    sales_agent = models.CharField(_("sales agent"), max_length=150, blank=True)
    first_invoice_number = models.CharField(_("first invoice number"), max_length=64, blank=True)
    #: A digest of the platform's values, to tell an unchanged record at a glance.
    content_hash = models.CharField(max_length=32, blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    #: When the buyer's personal data on this order was replaced (``ops.privacy``).
    anonymised_at = models.DateTimeField(_("anonymised"), null=True, blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["order_id"]

    def __str__(self) -> str:
        return self.order_id


class Incident(models.Model):
    """What made a debt: a chargeback, stopped installments or a charged-back one-time payment."""

    incident_id = models.CharField(_("incident id"), max_length=64, primary_key=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="incidents",
                              verbose_name=_("order"), db_column="order_id")
    kind = models.CharField(_("kind"), max_length=32, choices=IncidentKind.choices)
    occurred_at = models.DateTimeField(_("occurred at"))
    open_amount = models.DecimalField(_("open amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    #: A digest of the platform's values, to tell an unchanged record at a glance.
    content_hash = models.CharField(max_length=32, blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-occurred_at"]

    def __str__(self) -> str:
        return f"{self.incident_id} ({self.get_kind_display()})"


class Payment(models.Model):
    payment_id = models.CharField(_("payment id"), max_length=64, primary_key=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments",
                              verbose_name=_("order"), db_column="order_id")
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    paid_at = models.DateTimeField(_("paid at"))
    channel = models.CharField(_("channel"), max_length=16, choices=PaymentChannel.choices)
    #: A digest of the platform's values, to tell an unchanged record at a glance.
    content_hash = models.CharField(max_length=32, blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-paid_at"]

    def __str__(self) -> str:
        return f"{self.payment_id}: {self.amount} {self.currency}"


class ApiClient(models.Model):
    """A system allowed to send platform data through the intake API.

    Only a SHA-256 hash of the API key is stored; the key is shown once, when it is made.
    The webhook secret signs webhook deliveries (HMAC-SHA256) and must be readable to verify
    them, so it is stored as given.
    """

    name = models.CharField(_("name"), max_length=150, unique=True)
    key_prefix = models.CharField(_("key prefix"), max_length=12, unique=True)
    key_hash = models.CharField(_("key hash"), max_length=64)
    webhook_secret = models.CharField(_("webhook secret"), max_length=128, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")

    def __str__(self) -> str:
        return self.name


class IdempotencyRecord(models.Model):
    """The first answer to a request with an Idempotency-Key, replayed to every retry."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotency_client_key"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"


class WebhookDelivery(models.Model):
    """A webhook delivery a client made and that was applied: a second one is a replay.

    A delivery is known by its id (header ``X-Mahnwerk-Delivery``), or, sent without one, by its
    timestamp. Only applied deliveries are kept, so a refused one may be corrected and resent.
    """

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+")
    delivery_id = models.CharField(max_length=64, blank=True, default="")  # "": sent without
    timestamp = models.BigIntegerField()
    signature = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["client", "delivery_id"],
                                    condition=~models.Q(delivery_id=""),
                                    name="webhook_client_delivery"),
            models.UniqueConstraint(fields=["client", "timestamp"],
                                    condition=models.Q(delivery_id=""),
                                    name="webhook_client_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id}@{self.timestamp}"
