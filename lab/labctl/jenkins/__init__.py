"""The lab's Jenkins with the Generic Webhook Trigger plugin: a REST emulator (see docs/lab.md)."""
