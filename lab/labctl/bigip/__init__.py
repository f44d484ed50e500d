"""The lab's F5 BIG-IP HA pair: an iControl REST emulator (see docs/lab.md)."""
