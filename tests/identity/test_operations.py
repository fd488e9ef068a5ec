# -*- test-case-name: tests.identity.test_operations -*-
from __future__ import annotations
