"""Gateway JSON as readable fields: labels from keys, formatted values, bounded walks."""

from __future__ import annotations

from decimal import Decimal

from django.test import override_settings

from django_axme.readable import MAX_FIELDS, format_value, label_for, readable_fields


def test_labels_from_keys():
    assert label_for("purchase_request_id") == "Purchase request id"
    assert label_for("travellerName") == "Traveller name"
    assert label_for("cost-center") == "Cost center"
    assert label_for("VAT_rate") == "VAT rate"


@override_settings(LANGUAGE_CODE="en-us", USE_I18N=True)
def test_values_are_formatted():
    assert format_value(1800) == "1,800"
    assert format_value(Decimal("1800.00")) == "1,800.00"
    assert format_value("1800.00") == "1,800.00"
    assert format_value("01234") == "01234"  # codes keep their zeros
    assert format_value(True) == "Yes" and format_value(None) == "—"
    assert format_value("2026-12-24") == "Dec. 24, 2026"
    assert format_value("x" * 5000).endswith("…") and len(format_value("x" * 5000)) == 1000


def test_nested_values_are_children_and_the_walk_is_bounded():
    fields = readable_fields({"a": {"b": {"c": {"d": {"e": 1}}}}, "list": [1, 2]})
    assert fields[0].children[0].children[0].children[0].value == "(nested too deep to show)"
    assert [f.value for f in fields[1].children] == ["1", "2"]
    many = readable_fields({f"k{i}": i for i in range(MAX_FIELDS + 50)})
    assert len(many) == MAX_FIELDS + 1 and many[-1].value == "50 more not shown"
