from tests.fixity.conftest import published  # noqa: F401 - the same small published collection
