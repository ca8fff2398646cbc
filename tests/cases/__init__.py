"""Tests of hotline.cases."""
