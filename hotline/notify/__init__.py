"""Notifications (SMS to callers, districts and departments) through pluggable gateways."""
