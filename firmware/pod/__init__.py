# pod - the emulated OmniPod "Eros" pod firmware (MicroPython; the pure parts also import
# under CPython for tests). Entry point: firmware/main.py -> pod.app.main().
VERSION = "0.1.0"
