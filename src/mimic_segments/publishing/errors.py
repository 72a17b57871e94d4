"""What stops a build or a publish: the errors the command line turns into exit codes 1 and 3."""

from __future__ import annotations


class PublishError(Exception):
    """A build could not start, failed, or could not be published."""


class BuildLockedError(PublishError):
    """Another build holds the lock."""
