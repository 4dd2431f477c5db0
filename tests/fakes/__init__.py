"""Fakes of cloud APIs, each in its own module, that tests drive the real SDKs against."""
