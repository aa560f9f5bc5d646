"""The doi tests' published demo collection, for the landing-page escaping test."""
from tests.doi.conftest import chest, published  # noqa: F401
