from django.apps import apps


def test_app_is_installed():
    assert apps.get_app_config("django_axme").verbose_name == "AXME"
