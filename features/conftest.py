from tests.conftest import database_url, redis_url, settings  # noqa: F401
