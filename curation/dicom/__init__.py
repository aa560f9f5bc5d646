"""Plain-Python DICOM helpers (no Django): reading, hashing, rendering, synthesizing test data."""
