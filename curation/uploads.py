"""Receiving browser uploads: streamed to temporary files, limits enforced while receiving.

Django reads a multipart body through upload handlers. This one writes every file to a temporary
file (never to memory), and skips a file as soon as it passes the per-file limit, or the request
passes the per-upload limit, keeping what a curator needs to judge it (name, bytes seen, the
first bytes). The other files of the request go on.
"""
from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler

from .services.intake import HEAD_BYTES, max_file_bytes, max_upload_bytes


class LimitedUploadHandler(TemporaryFileUploadHandler):
    def __init__(self, request=None):
        super().__init__(request)
        self.skipped: list[dict] = []
        self.total = 0
        self.max_file = max_file_bytes()
        self.max_request = max_upload_bytes()

    def new_file(self, field_name, file_name, *args, **kwargs):
        super().new_file(field_name, file_name, *args, **kwargs)
        self.seen = 0
        self.head = b""

    def receive_data_chunk(self, raw_data, start):
        self.seen += len(raw_data)
        self.total += len(raw_data)
        if len(self.head) < HEAD_BYTES:
            self.head += raw_data[: HEAD_BYTES - len(self.head)]
        if self.seen > self.max_file:
            self._skip(f"file exceeds the per-file limit of {self.max_file} bytes (stopped receiving it at {self.seen})")
        if self.total > self.max_request:
            self._skip(f"the request exceeds the per-upload limit of {self.max_request} bytes: "
                       "send it again in smaller parts (the uploader does this by itself)")
        return super().receive_data_chunk(raw_data, start)

    def _skip(self, reason: str):
        self.skipped.append({"field": self.field_name, "name": self.file_name, "size": self.seen, "head": self.head,
                             "reason": reason})
        self.file.close()  # a temporary file: closing removes it
        raise SkipFile()
