"""PACS throughput: seconds per study through scintiml's PACS paths, against a plain C-STORE of the same study.

Starts a throw-away Orthanc (Debian packages orthanc + orthanc-dicomweb) on free ports, uploads N simulated
lung-perfusion studies, and times, in the same run:

* peer: a plain C-STORE of each study's NM instance into Orthanc (pynetdicom) — what moving the study costs;
* ``triage --pacs`` over DICOMweb (QIDO-RS, WADO-RS, triage, STOW-RS of SC + SR);
* ``triage --pacs`` over DIMSE (C-FIND, C-GET, triage, C-STORE of SC + SR);
* the listener: C-STORE to ``scintiml listen`` until every study's SC and SR are in Orthanc (quiet time 0.2 s).

The CNN is the default width (8) trained for two steps: inference cost does not depend on how well it is trained.
Run: .venv/bin/python benchmarks/bench_pacs.py [N]
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(n: int = 8) -> None:
    import pydicom
    import yaml
    from pydicom.uid import generate_uid
    from pynetdicom import AE
    from pynetdicom.sop_class import NuclearMedicineImageStorage

    from scintiml.cnn import train_cnn
    from scintiml.datasets.perfusion import VIEWS, simulate_perfusion_scans
    from scintiml.imaging.planar import PlanarStudy, write_nm_dicom
    from scintiml.pacs import Listener, load_config, triage_from_pacs

    orthanc = shutil.which("Orthanc")
    plugin = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
    if orthanc is None or not plugin.exists():
        print("Orthanc with its DICOMweb plugin is not installed (apt-get install orthanc orthanc-dicomweb)")
        return
    work = Path(tempfile.mkdtemp(prefix="bench-pacs-"))
    http, dicom, listen_port = free_port(), free_port(), free_port()
    (work / "db").mkdir()
    (work / "orthanc.json").write_text(json.dumps({
        "StorageDirectory": str(work / "db"), "IndexDirectory": str(work / "db"), "HttpPort": http,
        "DicomPort": dicom, "DicomAet": "ORTHANC", "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "Plugins": [str(plugin)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "DicomModalities": {"scintiml": ["SCINTIML", "127.0.0.1", listen_port],
                            "bench": ["BENCH", "127.0.0.1", 1]},
        "StorageCompression": False}))
    proc = subprocess.Popen([orthanc, str(work / "orthanc.json")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        import requests

        for _ in range(300):
            try:
                requests.get(f"http://127.0.0.1:{http}/system", timeout=1).raise_for_status()
                break
            except Exception:
                time.sleep(0.1)
        scans = [c.views for c in simulate_perfusion_scans(2, prevalence=0.5, random_state=3)]
        rng = np.random.default_rng(0)
        counts = np.stack([rng.poisson(np.stack([scans[i % 2][v] for v in VIEWS])) for i in range(20)]).astype(float)
        trained = train_cnn(counts, np.r_[np.zeros(10), np.ones(10)], list(VIEWS), width=8, epochs=1, max_steps=2)
        model = trained[0] if isinstance(trained, tuple) else trained
        model.save(work / "model")

        def studies(tag: str, date: str) -> list[Path]:
            files = []
            for i in range(n):
                study = PlanarStudy(views=scans[i % 2], pixel_spacing_mm=(3.3, 3.3), patient_id=f"{tag}{i}",
                                    study_instance_uid=generate_uid(), metadata={"radiopharmaceutical": "99mTc-MAA"})
                path = write_nm_dicom(study, work / tag / f"{i}.dcm", study_date=date)
                ds = pydicom.dcmread(path)
                ds.StudyDescription = "NM LUNG PERFUSION"
                ds.save_as(path)
                files.append(path)
            return files

        def c_store(port: int, aet: str, files: list[Path]) -> None:
            ae = AE(ae_title="BENCH")
            ae.add_requested_context(NuclearMedicineImageStorage)
            for f in files:  # one association per study, as a camera sends them
                assoc = ae.associate("127.0.0.1", port, ae_title=aet)
                assert int(assoc.send_c_store(pydicom.dcmread(f)).Status) == 0
                assoc.release()

        def config(name: str, pacs: dict, date: str) -> Path:
            path = work / f"{name}.yaml"
            path.write_text(yaml.safe_dump({
                "pacs": pacs, "local": {"ae_title": "SCINTIML", "port": listen_port, "host": "127.0.0.1"},
                "query": {"date_from": date, "date_to": date},
                "listener": {"state_dir": str(work / f"state-{name}"), "quiet_time_s": 0.2, "poll_s": 0.05},
                "retry": {"attempts": 2, "backoff_s": 0.1}}))
            return path

        def results_in(uids: list[str]) -> int:
            done = 0
            for uid in uids:
                series = requests.get(f"http://127.0.0.1:{http}/dicom-web/studies/{uid}/series", timeout=10)
                mods = {s["00080060"]["Value"][0] for s in series.json()} if series.status_code == 200 else set()
                done += {"OT", "SR"} <= mods
            return done

        rows = []
        web = {"protocol": "dicomweb", "url": f"http://127.0.0.1:{http}/dicom-web"}
        dimse = {"protocol": "dimse", "host": "127.0.0.1", "port": dicom, "ae_title": "ORTHANC"}

        files = studies("peer", "20260101")
        t = time.perf_counter()
        c_store(dicom, "ORTHANC", files)
        peer = (time.perf_counter() - t) / n
        rows.append(("plain C-STORE into Orthanc (peer)", peer))

        for name, pacs, date in (("dicomweb", web, "20260102"), ("dimse-get", dimse, "20260103")):
            c_store(dicom, "ORTHANC", studies(name, date))
            cfg = load_config(config(name, pacs, date))
            t = time.perf_counter()
            summary = triage_from_pacs(work / "model", cfg, work / f"out-{name}")
            assert summary["triaged"] == n, summary
            rows.append((f"triage --pacs, {name}", (time.perf_counter() - t) / n))

        files = studies("listen", "20260104")
        uids = [str(pydicom.dcmread(f).StudyInstanceUID) for f in files]
        listener = Listener(work / "model", load_config(config("listen", dimse, "20260104")))
        listener.start()
        stop = threading.Event()
        loop = threading.Thread(target=listener.serve, args=(stop,))
        loop.start()
        t = time.perf_counter()
        c_store(listen_port, "SCINTIML", files)
        while results_in(uids) < n and time.perf_counter() - t < 300:
            time.sleep(0.05)
        elapsed = time.perf_counter() - t
        stop.set()
        loop.join()
        listener.stop()
        rows.append(("listen: C-STORE in, SC + SR out (quiet 0.2 s)", elapsed / n))

        print(f"\n{n} studies (6 views of 128 x 128, one NM instance each), Orthanc "
              f"{requests.get(f'http://127.0.0.1:{http}/system').json()['Version']}\n")
        print(f"| path | s per study | studies per hour | ratio to plain C-STORE |\n|---|---|---|---|")
        for name, sec in rows:
            print(f"| {name} | {sec:.3f} | {3600 / sec:,.0f} | {sec / peer:.1f} |")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
