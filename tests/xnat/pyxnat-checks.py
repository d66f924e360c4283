# Drives the XNAT test server with pyxnat (Debian python3-pyxnat), a client written against real
# XNAT: each check prints "PASS <name>" or "FAIL <name>: <why>"; the last line is "checks P/T".
import json, os, sys, tempfile, traceback
from pyxnat import Interface

url, user, password, zip_path = sys.argv[1:5]
x = Interface(server=url, user=user, password=password, verify=False)
results = []

def check(name, fn):
    try:
        fn()
        results.append(True)
        print("PASS", name)
    except Exception as e:  # noqa
        results.append(False)
        print("FAIL", name + ":", repr(e)[:300])

proj = x.select.project("P1")
subj = proj.subject("PY_S1")
exp = subj.experiment("PY_S1_MR")
res = exp.resource("NOTES")
data = bytes(range(256)) * 10
tmp = tempfile.mkdtemp()
src = os.path.join(tmp, "a.bin")
open(src, "wb").write(data)

check("login (JSESSION)", lambda: x._get_entry_point())
check("project exists", lambda: (_ for _ in ()).throw(AssertionError("no P1")) if not proj.exists() else None)
check("create subject", lambda: subj.create())
check("subject exists", lambda: (_ for _ in ()).throw(AssertionError("missing")) if not subj.exists() else None)
check("create experiment", lambda: exp.create(experiments="xnat:mrSessionData"))
check("experiment exists", lambda: (_ for _ in ()).throw(AssertionError("missing")) if not exp.exists() else None)
check("create scan", lambda: exp.scan("1").create(scans="xnat:mrScanData"))
check("create resource", lambda: res.create())
check("upload file", lambda: res.file("a.bin").put(src))
def download():
    out = os.path.join(tmp, "b.bin")
    res.file("a.bin").get(out)
    assert open(out, "rb").read() == data, "bytes differ"
check("download file byte for byte", download)
def fail(why):
    raise AssertionError(why)
# pyxnat reads listings as CSV with columns=ID,xsiType (and get("label") still answers IDs the
# first time, on a real XNAT too), so the listings are checked by ID, and labels through columns=.
check("list subjects (listing by ID)", lambda: None if subj.id() in proj.subjects().get() else fail("not listed"))
check("list experiments (listing by ID)", lambda: None if exp.id() in subj.experiments().get() else fail("not listed"))
def labels():
    assert subj.id().startswith("XNAT_S"), subj.id()
    assert subj.label() == "PY_S1", subj.label()
    assert exp.label() == "PY_S1_MR", exp.label()
check("labels and IDs through listings with columns=", labels)
def attrs():
    exp.attrs.set("xnat:mrSessionData/date", "2020-01-02")
    assert exp.attrs.get("xnat:mrSessionData/date") == "2020-01-02", exp.attrs.get("xnat:mrSessionData/date")
check("experiment attribute set, then read through columns=", attrs)
def array():
    t = x.array.experiments(project_id="P1", columns=["label"])
    assert "PY_S1_MR" in t.get("label"), t.headers()
    row = [r for r in t if r["label"] == "PY_S1_MR"][0]
    assert row["ID"] == exp.id(), row
    assert set(t.headers()) >= {"ID", "project", "label", "URI"}, t.headers()
    assert "insert_date" not in t.headers(), t.headers()
check("experiments array (columns= honoured, xsiType base type, project filter)", array)
def xml():
    from lxml import etree
    root = etree.fromstring(exp.get().encode() if isinstance(exp.get(), str) else exp.get())
    assert root.tag == "{http://nrg.wustl.edu/xnat}MRSession", root.tag
    assert root.get("label") == "PY_S1_MR" and root.get("project") == "P1", root.attrib
    assert exp.xpath("//xnat:scan/@ID") == ["1"], exp.xpath("//xnat:scan/@ID")
    assert exp.xpath("//xnat:subject_ID/text()") == [subj.id()]
    sroot = etree.fromstring(subj.get().encode() if isinstance(subj.get(), str) else subj.get())
    assert sroot.tag == "{http://nrg.wustl.edu/xnat}Subject" and sroot.get("label") == "PY_S1", sroot.attrib
check("element documents with format=xml", xml)
check("list files", lambda: None if "a.bin" in res.files().get() else (_ for _ in ()).throw(AssertionError("not listed")))
def imp():
    r = x.post("/data/services/import", params={"import-handler": "DICOM-zip", "project": "P1", "subject": "PY_S2", "session": "PY_S2_CT", "dest": "/prearchive/projects/P1", "inbody": "true"}, data=open(zip_path, "rb").read(), headers={"Content-Type": "application/zip"})
    assert r.status_code == 200, r.status_code
    assert r.text.strip().startswith("/data/prearchive/projects/P1/"), r.text[:100]
check("import a DICOM zip into the prearchive", imp)
def prearc():
    rows = json.loads(x.get("/data/prearchive/projects/P1", params={"format": "json"}).text)["ResultSet"]["Result"]
    row = [r for r in rows if r["name"] == "PY_S2_CT"][0]
    r = x.post("/data" + row["url"], params={"action": "build"})
    assert r.status_code == 200, r.status_code
    r = x.delete("/data" + row["url"])
    assert r.status_code == 200, r.status_code
check("prearchive list, build, delete", prearc)
def imported(session):
    r = x.post("/data/services/import", params={"import-handler": "DICOM-zip", "project": "P1", "subject": "PY_S3", "session": session, "dest": "/prearchive/projects/P1", "inbody": "true"}, data=open(zip_path, "rb").read(), headers={"Content-Type": "application/zip"})
    assert r.status_code == 200, r.status_code
    parts = r.text.strip().split("/")
    return parts[-3], parts[-2], parts[-1]
def prearc_form():
    triple = imported("PY_S3_CT")
    assert ["P1", triple[1], triple[2]] in [list(t) for t in x.manage.prearchive.get()], x.manage.prearchive.get()
    assert len(x.manage.prearchive.get_scans(triple)) == 1, x.manage.prearchive.get_scans(triple)
    x.manage.prearchive.reset(triple)  # action=build in a form body
    assert x.manage.prearchive.status(triple) in ("READY", ["READY"]), x.manage.prearchive.status(triple)
    x.manage.prearchive.delete("/prearchive/projects/%s/%s/%s" % triple)  # src=… in a form body
    assert [list(t) for t in x.manage.prearchive.get() if t[2] == triple[2]] == [], "still in the prearchive"
check("prearchive reset and delete with parameters in a form body (pyxnat manage.prearchive)", prearc_form)
def zipped():
    out = tempfile.mkdtemp()
    members = res.get(out, extract=True)
    assert [os.path.basename(m) for m in members] == ["a.bin"], members
    assert open(members[0], "rb").read() == data, "bytes differ"
check("zip download of a resource (Resource.get)", zipped)
def put_zip():
    r2 = exp.resource("MORE")
    src2 = os.path.join(tmp, "b.txt")
    open(src2, "w").write("second file")
    r2.put([src, src2])  # a zip uploaded with extract=true
    assert sorted(r2.files().get()) == ["a.bin", "b.txt"], r2.files().get()
check("several files into a resource as one extracted zip (Resource.put)", put_zip)
def level_resources(obj, label):
    r = obj.resource(label)
    r.create()
    assert r.exists(), "resource missing"
    r.file("c.bin").put(src)
    out = os.path.join(tmp, label + ".bin")
    r.file("c.bin").get(out)
    assert open(out, "rb").read() == data, "bytes differ"
    assert label in obj.resources().get("label") or r.id() in obj.resources().get(), obj.resources().get()
check("subject-level resource: create, upload, download", lambda: level_resources(subj, "SUBJRES"))
check("project-level resource: create, upload, download", lambda: level_resources(proj, "PROJRES"))
print("checks %d/%d" % (sum(results), len(results)))
