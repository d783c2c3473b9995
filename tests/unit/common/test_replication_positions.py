"""GTID positions (MariaDB domain-server-seq lists, MySQL GTID sets) and Redis targets (URL, Sentinels)."""

from __future__ import annotations

import pytest

from farmlokal_common.gtid import covers, streams
from farmlokal_common.redis_client import RedisTarget


def test_streams_of_mariadb_and_mysql_positions() -> None:
    assert streams("0-1-812,1-2-7") == {"0": 812, "1": 7}
    assert streams("") == {}
    uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
    assert streams(f"{uuid}:1-812,\n{uuid[:-1]}0:1-5:7-9") == {uuid: 812, uuid[:-1] + "0": 9}
    with pytest.raises(ValueError):
        streams("garbage")


@pytest.mark.parametrize(
    ("position", "floor", "expected"),
    [
        ("0-1-10", "0-1-10", True),
        ("0-1-11", "0-1-10", True),
        ("0-1-9", "0-1-10", False),
        ("0-2-12", "0-1-10", True),  # a seq is per domain, whichever server wrote it
        ("0-1-10", "0-1-10,1-1-3", False),  # a domain the replica has not seen
        ("0-1-10,1-1-3", "", True),
    ],
)
def test_covers(position: str, floor: str, expected: bool) -> None:
    assert covers(position, floor) is expected


def test_redis_target_from_a_url_and_from_sentinel_settings() -> None:
    plain = RedisTarget.of("redis://:pw@127.0.0.1:6379/2")
    assert (plain.via_sentinel, plain.password, plain.db) == (False, "pw", 2)
    by_settings = RedisTarget.of("redis://:pw@ignored:1/3", "s1:26379, s2:26380", "farmlokal")
    assert by_settings.sentinels == (("s1", 26379), ("s2", 26380))
    assert (by_settings.master_name, by_settings.password, by_settings.db) == ("farmlokal", "pw", 3)
    url = RedisTarget.of("redis+sentinel://:se%40cret@s1:26379,s2:26379/mymaster/1")
    assert url.sentinels == (("s1", 26379), ("s2", 26379))
    assert (url.master_name, url.password, url.db) == ("mymaster", "se@cret", 1)
    # The chart sets both, the URL and the settings: the settings win.
    both = RedisTarget.of("redis+sentinel://s1:26379/mymaster/0", "s9:1", "farmlokal")
    assert (both.sentinels, both.master_name) == ((("s9", 1),), "farmlokal")


def test_sentinels_without_a_master_name_are_refused() -> None:
    with pytest.raises(ValueError, match="MASTER_NAME"):
        RedisTarget.of("redis://127.0.0.1:6379/0", "s1:26379", "")
    with pytest.raises(ValueError, match="HOST:PORT"):
        RedisTarget.of("redis://127.0.0.1:6379/0", "s1", "m")
