"""What DICOMweb keeps of its own: the parsed header of each stored file, built once.

Stored files are immutable (named by sha256), so a header parsed from one never goes stale:
`metadata` requests answer from it without opening a file, and frame requests seek straight
to the frame's bytes from the recorded layout.
"""
from django.db import models

from collections_app.models import StoredFile


class InstanceHeader(models.Model):
    stored_file = models.OneToOneField(StoredFile, on_delete=models.CASCADE, primary_key=True, related_name="+")
    dicom_json = models.TextField(
        help_text="DICOM JSON (PS3.18 F.2) of every element but the pixel data; binary values over the "
                  "bulk-data threshold are BulkDataURIs relative to the instance (placeholder prefix)."
    )
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)
    summary = models.JSONField(
        default=dict, blank=True,
        help_text="The study and series attributes QIDO reads from one instance (StudyTime, AccessionNumber, ...).",
    )
    bits_allocated = models.PositiveSmallIntegerField(null=True, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    samples_per_pixel = models.PositiveSmallIntegerField(default=1)
    number_of_frames = models.PositiveIntegerField(default=0, help_text="0 when the file has no pixel data.")
    pixel_vr = models.CharField(max_length=2, blank=True)
    pixel_offset = models.BigIntegerField(null=True, blank=True, help_text="Byte offset of the pixel data value.")
    pixel_length = models.BigIntegerField(null=True, blank=True, help_text="Bytes of a native pixel data value.")
    frames = models.JSONField(
        default=list, blank=True,
        help_text="Encapsulated pixel data: for each frame, its fragments as [offset, length] pairs.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"header of {self.stored_file_id}"
