"""The ops console: queue and job pages inside the admin, gated by the ops permission."""
