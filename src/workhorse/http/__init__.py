"""The HTTP discipline shared by every endpoint; knows no feature."""
