"""Writes phi_labels.csv: synthesized DICOM values, each labelled by how it was made (no real
PHI; nothing here calls the heuristic under test). Rerun to regenerate:
    python tests/phi/data/make_phi_labels.py
Columns: keyword, vr, value, kinds (';'-joined, empty = nothing PHI-like)."""
import csv
import random
from pathlib import Path

rng = random.Random(17)
rows = []


def add(keyword, vr, value, kinds=""):
    rows.append([keyword, vr, value, kinds])


# times: plain TM values in every form, and times kept in text or private elements
for kw in ("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime", "InstanceCreationTime"):
    for _ in range(6):
        h, m, s, f = rng.randrange(24), rng.randrange(60), rng.randrange(60), rng.randrange(10**6)
        form = rng.randrange(4)
        value = [f"{h:02d}{m:02d}{s:02d}.{f:06d}", f"{h:02d}{m:02d}{s:02d}", f"{h:02d}{m:02d}", f"{h:02d}{m:02d}{s:02d}.{f % 1000:03d}"][form]
        add(kw, "TM", value)
for n in range(10):
    h, m, s = rng.randrange(24), rng.randrange(60), rng.randrange(60)
    add(f'SIEMENS CSA HEADER {n:02x}', rng.choice(["UN", "LO", "SH"]), f"{h:02d}{m:02d}{s:02d}.{rng.randrange(10**6):06d}")
# device and station names, models, software
for kw, value in [("StationName", "DCTOOL100"), ("StationName", "CT01"), ("StationName", "MRC25"), ("StationName", "AWS-7"),
                  ("StationName", "PETCT_2"), ("StationName", "CTAWP73105"), ("StationName", "MEDPC"), ("StationName", "OC0"),
                  ("ManufacturerModelName", "LightSpeed VCT"), ("ManufacturerModelName", "SOMATOM Definition AS+"),
                  ("ManufacturerModelName", "Signa HDxt"), ("ManufacturerModelName", "DCTOOL100"),
                  ("Manufacturer", "GE MEDICAL SYSTEMS"), ("Manufacturer", "SIEMENS"), ("Manufacturer", "Philips"),
                  ("DeviceDescription", "CT scanner 3"), ("SoftwareVersions", "syngo CT VA48A"), ("SoftwareVersions", "V1.2.3"),
                  ("SoftwareVersions", "LightSpeedverrel"), ("SecondaryCaptureDeviceManufacturerModelName", "DCTOOL100"),
                  ("ProtocolName", "CHEST_ROUTINE"), ("SequenceName", "*tfl3d1_16ns"), ("CodeMeaning", "Tomography"),
                  ("CodeMeaning", "Basic Application Confidentiality Profile"), ("SeriesDescription", "T2 FLAIR AX"),
                  ("SeriesDescription", "CT CHEST W/O CONTRAST"), ("SeriesDescription", "Chest"), ("StudyDescription", "PET-CT WB"),
                  ("BodyPartExamined", "CHEST"), ("ImageType", "ORIGINAL\\PRIMARY\\AXIAL"), ("PatientPosition", "HFS"),
                  ("ConvolutionKernel", "B30f"), ("ContrastBolusAgent", "OMNIPAQUE 350"), ("RequestedProcedureDescription", "CT ABDOMEN"),
                  ("ScanOptions", "HELICAL MODE"), ("FilterType", "BODY FILTER"), ("PatientSex", "F"), ("PatientAge", "063Y"),
                  ("SpecificCharacterSet", "ISO_IR 100"), ("DerivationDescription", "Lossy compression 10:1"),
                  ("LossyImageCompressionMethod", "ISO_10918_1"), ("PatientIdentityRemoved", "YES"),
                  ("DeidentificationMethod", "PS3.15 E.1-1 2024b Basic Profile"), ("BurnedInAnnotation", "NO"),
                  ("AcquisitionContrast", "T1"), ("ReceiveCoilName", "Body"), ("TransmitCoilName", "HEAD 32"),
                  ("PerformedProcedureStepDescription", "CT THORAX"), ("Laterality", "R")]:
    vr = {"ImageType": "CS", "PatientPosition": "CS", "BodyPartExamined": "CS", "PatientSex": "CS", "PatientAge": "AS",
          "SpecificCharacterSet": "CS", "ScanOptions": "CS", "PatientIdentityRemoved": "CS", "BurnedInAnnotation": "CS",
          "AcquisitionContrast": "CS", "Laterality": "CS", "LossyImageCompressionMethod": "CS", "StationName": "SH",
          "SequenceName": "SH", "ConvolutionKernel": "SH", "CodeMeaning": "LO", "FilterType": "SH", "ReceiveCoilName": "SH",
          "TransmitCoilName": "SH", "DerivationDescription": "ST"}.get(kw, "LO")
    add(kw, vr, value)
# numbers and UIDs
for kw, vr in [("SliceThickness", "DS"), ("KVP", "DS"), ("InstanceNumber", "IS"), ("SeriesNumber", "IS"),
               ("AcquisitionNumber", "IS"), ("WindowCenter", "DS"), ("XRayTubeCurrent", "IS"), ("ExposureTime", "IS"),
               ("DataCollectionDiameter", "DS"), ("ReconstructionDiameter", "DS")]:
    add(kw, vr, str(rng.choice([rng.randrange(1, 200000), round(rng.uniform(0, 500), 3)])))
for kw in ("SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "ReferencedSOPInstanceUID"):
    add(kw, "UI", "1.3.6.1.4.1.14519.5.2.1." + ".".join(str(rng.randrange(10**9)) for _ in range(3)))
# person names
FIRST = ["John", "Jane", "Alan", "Grace", "Maria", "Wei", "Aisha", "Pierre", "Olga", "Kenji", "Fatima", "Liam", "Noor",
         "Carlos", "Ingrid", "Tomas", "Amara", "Yusuf", "Sofia", "Ravi"]
LAST = ["Doe", "Turing", "Hopper", "Garcia", "Chen", "Khan", "Dubois", "Ivanova", "Tanaka", "Haddad", "Murphy", "Rahman",
        "Lopez", "Berg", "Novak", "Okafor", "Demir", "Rossi", "Patel", "Smith"]
PN_KW = ["PatientName", "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "NameOfPhysiciansReadingStudy",
         "PhysiciansOfRecord", "RequestingPhysician", "PatientBirthName", "PatientMotherBirthName", "ScheduledPerformingPhysicianName"]
for n in range(30):
    first, last = FIRST[n % 20], LAST[(n * 7) % 20]
    form = n % 3
    value = [f"{last}^{first}", f"{last}^{first}^{rng.choice('ABCDEFGH')}^Dr", f"{last.upper()}^{first.upper()}"][form]
    add(PN_KW[n % len(PN_KW)], "PN", value, "name")
for n in range(12):
    first, last = FIRST[(n * 3) % 20], LAST[(n * 11) % 20]
    text = [f"Dr. {first} {last} reviewed", f"read by {last}^{first}", f"Mrs. {last} called back",
            f"reported by Prof. {last}"][n % 4]
    add(rng.choice(["StudyComments", "ImageComments", "AdditionalPatientHistory", "InterpretationText"]),
        rng.choice(["LT", "ST", "LO"]), text, "name")
# identifiers
for n in range(10):
    add("PatientID", "LO", f"LUNG-{n + 1:04d}", "id")
for n in range(10):
    add("PatientName", "PN", f"RIDER-{n + 1:04d}", "id")  # a subject ID written as the name
for n in range(20):
    value = [f"MRN{rng.randrange(10**6, 10**7)}", f"A{rng.randrange(10**7, 10**8)}", f"{rng.randrange(10**7, 10**9)}",
             f"ACC_{rng.randrange(10**5, 10**6)}"][n % 4]
    add(["OtherPatientIDs", "AccessionNumber", "MedicalRecordLocator", "StudyComments", "ImageComments"][n % 5],
        rng.choice(["LO", "SH"]) if n % 5 != 3 else "LT", value, "id")
for kw in ("DeviceSerialNumber", "StudyID", "IssuerOfPatientID", "RequestedProcedureID", "PerformedProcedureStepID",
           "FillerOrderNumberImagingServiceRequest"):
    add(kw, "LO" if "Issuer" in kw else "SH", f"{rng.randrange(100, 99999)}", "id")
# dates
for kw in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "PatientBirthDate"):
    for _ in range(3):
        add(kw, "DA", f"{rng.randrange(1950, 2024)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}", "date")
for _ in range(5):
    add("AcquisitionDateTime", "DT", f"{rng.randrange(1990, 2024)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
        f"{rng.randrange(24):02d}{rng.randrange(60):02d}{rng.randrange(60):02d}", "date")
for n in range(10):
    y, m, d = rng.randrange(1990, 2024), rng.randrange(1, 13), rng.randrange(1, 29)
    text = [f"seen on {y}{m:02d}{d:02d}", f"follow-up {m}/{d}/{y}", f"scan {y}-{m:02d}-{d:02d}", f"prior {d}.{m}.{y}"][n % 4]
    add(rng.choice(["StudyComments", "ImageComments", "AdditionalPatientHistory"]), "LT", text, "date")
# addresses, phones, e-mails
for n in range(10):
    value = f"{rng.randrange(1, 9999)} {rng.choice(['Main', 'Oak', 'Elm', 'Park', 'Hill'])} {rng.choice(['Street', 'Ave', 'Road', 'Blvd', 'Lane'])}"
    add(rng.choice(["InstitutionAddress", "PatientAddress", "StudyComments"]), "ST" if n % 3 else "LO", value + ", Springfield", "address")
for n in range(10):
    value = [f"(555) {rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}", f"555-{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}",
             f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"][n % 3]
    add(rng.choice(["PatientTelephoneNumbers", "ReferringPhysicianTelephoneNumbers", "StudyComments"]), "SH" if n % 2 else "LT",
        value, "phone")
for n in range(8):
    add(rng.choice(["StudyComments", "ContactURI", "ImageComments"]), "LT",
        f"{FIRST[n].lower()}.{LAST[n].lower()}@example.org", "email")

with open(Path(__file__).with_name("phi_labels.csv"), "w", newline="") as fh:
    w = csv.writer(fh)
    w.writerow(["keyword", "vr", "value", "kinds"])
    w.writerows(rows)
print(len(rows), "rows")
