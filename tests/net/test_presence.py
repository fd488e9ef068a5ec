# -*- test-case-name: tests.net.test_presence -*-
from __future__ import annotations
