# pod.hal - hardware layer. Import the backend you need (pod.hal.unix or pod.hal.rp2) directly,
# so that a Pico never loads the unix code and vice versa; base.py documents the interfaces.
