"""Tests of hotline.metrics."""
