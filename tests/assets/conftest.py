"""Fixtures shared by the asset tests."""

import pytest


@pytest.fixture(scope="session")
def admin_city(tmp_path_factory):
    """The tiny city's administration, materialised once for the admin pipeline and letters tests."""
    from tests.assets.test_admin_pipeline import build_admin

    return build_admin(tmp_path_factory.mktemp("admin-city"))
