/*
 * Test harness for the ssd-edge nvinfer parsers, standing in for nvinfer's calls: it dlopen()s
 * the parser library (custom-lib-path), dlsym()s the function (parse-bbox-func-name) and calls
 * it with layers read from raw little-endian files, as nvinfer would with one frame's outputs.
 *
 *   parser_harness LIB FUNC JOB_FILE
 *
 * JOB_FILE lines:
 *   net W H
 *   classes N
 *   thresholds T0 T1 ... (one per class, pre-cluster-threshold)
 *   layer NAME DTYPE(0=FLOAT,1=HALF,3=INT32) NUM_ELEMENTS PATH
 *   recheck IOU   (optional: afterwards run nvinfer's cluster-mode=2 NMS on the parser output and
 *                  print how many objects it would suppress, as "recheck_suppressed N")
 * Output: one line per object: "classId confidence left top width height" (%.9g).
 * Exit: 0 parsed, 3 the parser returned false, 2 harness usage error.
 */
#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nvdsinfer_test.h"

namespace {

// nvinfer's NMS clustering (cluster-mode=2) as DeepStream's open nvdsinfer sources implement it:
// per class, stable sort by confidence, keep a box unless IoU with a kept box > threshold.
float overlap1D(float a1, float a2, float b1, float b2)
{
    if (a1 > b1) { std::swap(a1, b1); std::swap(a2, b2); }
    return a2 < b1 ? 0 : std::min(a2, b2) - b1;
}

float nvinferIoU(const NvDsInferObjectDetectionInfo &a, const NvDsInferObjectDetectionInfo &b)
{
    float ox = overlap1D(a.left, a.left + a.width, b.left, b.left + b.width);
    float oy = overlap1D(a.top, a.top + a.height, b.top, b.top + b.height);
    float inter = ox * oy;
    float u = a.width * a.height + b.width * b.height - inter;
    return u == 0 ? 0 : inter / u;
}

size_t nvinferSuppressed(const std::vector<NvDsInferObjectDetectionInfo> &objs, unsigned int classes, float iou)
{
    size_t suppressed = 0;
    for (unsigned int c = 0; c < classes; ++c) {
        std::vector<const NvDsInferObjectDetectionInfo *> cls;
        for (auto const &o : objs)
            if (o.classId == c)
                cls.push_back(&o);
        std::stable_sort(cls.begin(), cls.end(), [](const NvDsInferObjectDetectionInfo *a,
                                                    const NvDsInferObjectDetectionInfo *b) {
            return a->detectionConfidence > b->detectionConfidence;
        });
        std::vector<const NvDsInferObjectDetectionInfo *> kept;
        for (auto *o : cls) {
            bool keep = true;
            for (auto *k : kept)
                if (nvinferIoU(*o, *k) > iou) { keep = false; break; }
            if (keep) kept.push_back(o); else ++suppressed;
        }
    }
    return suppressed;
}

bool readFile(const std::string &path, std::vector<char> &out)
{
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return true;
}

}  // namespace

int main(int argc, char **argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s LIB FUNC JOB_FILE\n", argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { std::fprintf(stderr, "dlopen: %s\n", dlerror()); return 2; }
    auto func = reinterpret_cast<NvDsInferParseCustomFunc>(dlsym(lib, argv[2]));
    if (!func) { std::fprintf(stderr, "dlsym %s: %s\n", argv[2], dlerror()); return 2; }

    NvDsInferNetworkInfo net = {0, 0, 3};
    NvDsInferParseDetectionParams params;
    params.numClassesConfigured = 0;
    std::vector<NvDsInferLayerInfo> layers;
    std::vector<std::vector<char>> buffers;
    std::vector<std::string> names;
    names.reserve(16);
    buffers.reserve(16);
    float recheckIou = -1;

    std::ifstream job(argv[3]);
    std::string line;
    while (std::getline(job, line)) {
        std::istringstream in(line);
        std::string key;
        in >> key;
        if (key == "net") {
            in >> net.width >> net.height;
        } else if (key == "classes") {
            in >> params.numClassesConfigured;
        } else if (key == "thresholds") {
            float t;
            while (in >> t) params.perClassPreclusterThreshold.push_back(t);
        } else if (key == "recheck") {
            in >> recheckIou;
        } else if (key == "layer") {
            std::string name, path;
            int dtype;
            unsigned int n;
            in >> name >> dtype >> n >> path;
            names.push_back(name);
            buffers.emplace_back();
            if (!readFile(path, buffers.back())) { std::fprintf(stderr, "cannot read %s\n", path.c_str()); return 2; }
            NvDsInferLayerInfo info;
            std::memset(&info, 0, sizeof(info));
            info.dataType = (NvDsInferDataType)dtype;
            info.inferDims.numDims = 1;
            info.inferDims.d[0] = n;
            info.inferDims.numElements = n;
            info.bindingIndex = (int)layers.size() + 1;
            info.layerName = names.back().c_str();
            info.buffer = buffers.back().data();
            layers.push_back(info);
        } else if (!key.empty()) {
            std::fprintf(stderr, "unknown job line: %s\n", line.c_str());
            return 2;
        }
    }
    std::vector<NvDsInferObjectDetectionInfo> objects;
    if (!func(layers, net, params, objects))
        return 3;
    for (auto const &o : objects)
        std::printf("%u %.9g %.9g %.9g %.9g %.9g\n", o.classId, o.detectionConfidence, o.left, o.top,
                    o.width, o.height);
    if (recheckIou >= 0)
        std::printf("recheck_suppressed %zu\n", nvinferSuppressed(objects, params.numClassesConfigured, recheckIou));
    return 0;
}
