"""The workspace's forms draw their plain inputs and selects in Python (``FORM_RENDERER``,
``mahnwerk.web.form_renderer``): the HTML is the one Django's templates draw, character for
character, for every field of the workspace's filters and forms; the lists' selects
(``forms.PlainSelect``, without the templates' line breaks) draw the options Django's option
dicts give, compared below."""

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe

from mahnwerk.web import filters
from mahnwerk.web.form_renderer import PythonWidgets
from mahnwerk.web.forms import OverviewFilterForm
from tests.factories import VendorFactory

pytestmark = pytest.mark.django_db


class Everything(forms.Form):
    """A value to escape, a bare attribute, a False one, groups of options, a lazy label."""

    text = forms.CharField(initial='a "quoted" <value> & more',
                           widget=forms.TextInput(attrs={"placeholder": "x<y", "autofocus": True,
                                                         "hidden": False, "size": 0}))
    number = forms.IntegerField(initial=0, widget=forms.NumberInput(attrs={"min": 1}))
    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    hidden = forms.CharField(initial="-amount", widget=forms.HiddenInput)
    safe = forms.CharField(initial=mark_safe("<b>kept</b>"))
    empty = forms.CharField(required=False)
    grouped = forms.ChoiceField(initial="b", choices=[
        ("", "– all –"), ("Eins & zwei", [("a", "A <1>"), ("b", "B")]), ("c", "C")])
    multiple = forms.MultipleChoiceField(initial=["x", "z"], choices=[
        ("x", "X"), ("y", "Y"), ("z", "Z")])
    flag = forms.BooleanField(required=False)
    note = forms.CharField(widget=forms.Textarea, initial="line\nline")
    how = forms.ChoiceField(widget=forms.RadioSelect, choices=[("a", "A"), ("b", "B")])


def drawn(form: forms.BaseForm, renderer) -> list[str]:
    form.renderer = renderer
    return [str(form[name]) for name in form.fields]


@pytest.mark.parametrize("bound", [False, True])
def test_every_widget_is_drawn_as_djangos_templates_draw_it(bound):
    data = {"text": "<script>", "number": "x", "grouped": "a", "multiple": ["y"],
            "day": "2026-12-01", "how": "b"} if bound else None
    assert drawn(Everything(data), PythonWidgets()) == drawn(Everything(data), DjangoTemplates())


def test_the_case_lists_filter_and_the_overview_are_drawn_as_before():
    VendorFactory(name='Akademie "Müller" & Söhne')
    VendorFactory(name="Coaching <Nord>")
    for data in (None, {"state": "open", "q": "<Müller>", "amount_min": "abc", "cycle": "2",
                        "sort": "-amount"}):
        ours = filters.CaseFilterSet(data).form
        theirs = filters.CaseFilterSet(data).form
        assert drawn(ours, PythonWidgets()) == drawn(theirs, DjangoTemplates())
    ours, theirs = OverviewFilterForm({"since": "2026-01-01"}), OverviewFilterForm(
        {"since": "2026-01-01"})
    assert drawn(ours, PythonWidgets()) == drawn(theirs, DjangoTemplates())


def test_the_workspace_uses_it(settings):
    assert settings.FORM_RENDERER == "mahnwerk.web.form_renderer.PythonWidgets"


def test_a_select_of_vendors_reads_rows_and_draws_what_it_drew_from_instances():
    """The vendor filter's options come from named rows of the label's columns and a select
    without groups is drawn straight from its choices: the HTML is the same as from model
    instances through Django's option dicts, whichever option is chosen."""
    from mahnwerk.intake.models import Vendor
    from mahnwerk.web.forms import PlainSelect, VendorChoiceField

    VendorFactory(vendor_id="V2", name='Zoë & "Söhne" <GmbH>')
    VendorFactory(vendor_id="V1", name="Anna")

    class FromInstances(VendorChoiceField):
        label_fields = ()

    for value in (None, "", "V2", "V9"):
        drawn_now = drawn_before = None
        for field_class in (VendorChoiceField, FromInstances):
            field = field_class(queryset=Vendor.objects.order_by("name"),
                                empty_label="– alle –", widget=PlainSelect)
            field.widget.choices = field.choices
            flat = field.widget.render("vendor", value, attrs={"id": "id_vendor"})
            general = field.widget._render_groups("vendor", value, {"id": "id_vendor"})
            assert flat == general
            if field_class is VendorChoiceField:
                drawn_now = flat
            else:
                drawn_before = general
        assert drawn_now == drawn_before
        if value == "V2":
            assert 'value="V2" selected>Zoë &amp; &quot;Söhne&quot; &lt;GmbH&gt; (V2)' \
                in drawn_now


def _list_filter_sets():
    return [value for value in vars(filters).values()
            if isinstance(value, type) and issubclass(value, filters.ListFilterSet)
            and value is not filters.ListFilterSet]


@pytest.mark.parametrize("bound", [False, True])
def test_every_select_of_every_list_draws_the_options_djangos_select_draws(bound):
    """The lists' selects are drawn in Python straight from their choices
    (``PlainSelect._render_flat``): the options, their order, which one is chosen and the
    escaping are those of Django's own option dicts (``_render_groups``), for every select
    of every list, before and after a filter is chosen."""
    from mahnwerk.web.forms import PlainSelect

    VendorFactory(vendor_id="V1", name='Akademie "Müller" & Söhne')
    selects = 0
    for filter_set in _list_filter_sets():
        form = filter_set().form
        for name, field in form.fields.items():
            if isinstance(field.widget, forms.HiddenInput):
                continue
            assert type(field.widget) is not forms.Select, (filter_set.__name__, name)
            if not isinstance(field.widget, PlainSelect):
                continue
            choices = [value for value, _label in field.widget.choices]
            value = str(choices[-1]) if bound else None
            flat = field.widget.render(name, value, attrs={"id": f"id_{name}"})
            assert flat == field.widget._render_groups(name, value, {"id": f"id_{name}"}), \
                (filter_set.__name__, name)
            selects += 1
    assert selects >= 20


def test_a_select_escapes_lazy_and_safe_labels_as_django_does():
    from django.utils.translation import gettext_lazy

    from mahnwerk.web.forms import PlainSelect

    widget = PlainSelect(choices=[("", gettext_lazy("all states")),
                                  ("a&b", mark_safe("<b>kept</b>")), ("c", "<i>escaped</i>"),
                                  ("c", "a second c is not chosen")])
    drawn_flat = widget.render("state", "c")
    assert drawn_flat == widget._render_groups("state", "c", None)
    assert '<option value="a&amp;b"><b>kept</b></option>' in drawn_flat
    assert '<option value="c" selected>&lt;i&gt;escaped&lt;/i&gt;</option>' in drawn_flat
    assert drawn_flat.count(" selected") == 1


def test_a_vendor_select_asks_the_database_once(django_assert_num_queries):
    """Drawing a list of options asked Django's iterator for its length first: a COUNT
    query of its own on every page of every list."""
    VendorFactory(vendor_id="V1")
    VendorFactory(vendor_id="V2")
    form = filters.CaseFilterSet().form
    with django_assert_num_queries(1):
        drawn_select = str(form["vendor"])
    assert drawn_select.count("<option") == 3
