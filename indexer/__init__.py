"""The write side of search: build and update index generations from the database."""
