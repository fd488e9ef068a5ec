# -*- test-case-name: tests.cluster.test_config -*-
"""
The C{cluster:} section and C{workers:}: URLs parsed and checked, several
workers refused without Redis.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.clusterconfig import RedisAddress, parseRedisURL
from twisted_mail_suite.config import configFromDict
from twisted_mail_suite.errors import ConfigError


class ClusterConfigTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        config = configFromDict({})
        self.assertIsNone(config.cluster.redis)
        self.assertIsNone(config.cluster.postgres)
        self.assertIsNone(config.cluster.node)
        self.assertIsNone(config.cluster.redisAddress)
        self.assertEqual(config.workers, 1)

    def test_redisURL(self) -> None:
        self.assertEqual(parseRedisURL("redis://127.0.0.1:6380/2"), RedisAddress("127.0.0.1", 6380, 2))
        self.assertEqual(parseRedisURL("redis://:p%40ss@localhost"), RedisAddress("localhost", 6379, 0, None, "p@ss"))
        self.assertEqual(parseRedisURL("redis://u:p@[::1]:7000/0"), RedisAddress("::1", 7000, 0, "u", "p"))
        for bad in ("http://x", "redis://", "redis://h:99999", "redis://h/x", "redis://h/0?a=b"):
            self.assertRaises(ValueError, parseRedisURL, bad)

    def test_section(self) -> None:
        config = configFromDict({"cluster": {"redis": "redis://127.0.0.1:6379/0", "node": "mx-1",
                                             "postgres": "postgresql://mail@127.0.0.1/mail"}, "workers": 4})
        self.assertEqual(config.cluster.redisAddress, RedisAddress("127.0.0.1"))
        self.assertEqual(config.cluster.node, "mx-1")
        self.assertEqual(config.workers, 4)

    def test_badValues(self) -> None:
        for raw, key in [({"cluster": {"redis": "127.0.0.1:6379"}}, "cluster.redis"),
                         ({"cluster": {"postgres": "mysql://x"}}, "cluster.postgres"),
                         ({"cluster": {"node": "a b"}}, "cluster.node"),
                         ({"cluster": {"sentinel": 1}}, "cluster.sentinel"),
                         ({"workers": 0}, "workers"), ({"workers": True}, "workers")]:
            with self.assertRaises(ConfigError) as caught:
                configFromDict(raw, "t.yaml")
            self.assertEqual(caught.exception.key, key)

    def test_workersNeedRedis(self) -> None:
        with self.assertRaises(ConfigError) as caught:
            configFromDict({"workers": 2}, "t.yaml")
        self.assertEqual(caught.exception.key, "workers")
        self.assertIn("cluster.redis", str(caught.exception))
