// A stand-in for libnvidia-ml.so.1: the four functions moe::ledger::nvml_meter dlopens. Device 0 has an energy
// counter that starts at 5000 mJ and advances 250 mJ per read; other indices do not exist (NVML_ERROR_INVALID_ARGUMENT).
namespace {
unsigned long long counter_mj = 5000;
int device_tag = 0;
}  // namespace

extern "C" {
int nvmlInit_v2() { return 0; }
int nvmlShutdown() { return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** device) {
    if (index != 0) return 2;
    *device = &device_tag;
    return 0;
}
int nvmlDeviceGetTotalEnergyConsumption(void* device, unsigned long long* energy_mj) {
    if (device != &device_tag) return 2;
    *energy_mj = counter_mj;
    counter_mj += 250;
    return 0;
}
}
