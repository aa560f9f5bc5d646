from django.core.management.base import BaseCommand

from curation.services.receiver import start_receiver


class Command(BaseCommand):
    help = "Run a DICOM C-STORE receiver; the called AE title selects the submission (shown on its page)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="0.0.0.0")
        parser.add_argument("--port", type=int, default=11112)

    def handle(self, host, port, **options):
        self.stdout.write(f"Receiving DICOM on {host}:{port}. Send to the AE title of a submission. Ctrl-C stops.")
        start_receiver(host, port, block=True)
