/*
 * nvinfer custom box parsers for ssd-edge detectors (written by `ssd-export --deepstream`).
 *
 * Two entry points, chosen in the nvinfer config with parse-bbox-func-name:
 *
 *   NvDsInferParseSsdEdge     outputs "scores" [P, C] (softmax, class 0 = BACKGROUND) and
 *                             "boxes" [P, 4] (x1 y1 x2 y2 normalised to [0, 1]).
 *                             Runs pytorch-ssd's Predictor post-processing HERE, exactly as
 *                             ssd_edge.postprocess does: per class 1..C-1, score > threshold,
 *                             sort, keep SSD_EDGE_CANDIDATE_SIZE, greedy hard NMS suppressing
 *                             IoU > SSD_EDGE_IOU_THRESHOLD (IoU with pytorch-ssd's 1e-5 in the
 *                             union), SSD_EDGE_TOP_K per class, SSD_EDGE_MAX_DETECTIONS overall.
 *                             nvinfer's own NMS (cluster-mode=2) with the same IoU then finds
 *                             nothing left to suppress; lowering nms-iou-threshold in the config
 *                             still tightens it.
 *
 *   NvDsInferParseSsdEdgeNms  outputs "num_detections" [1], "detection_boxes" [K, 4],
 *                             "detection_scores" [K], "detection_classes" [K] of a graph with NMS
 *                             inside (--nms onnx / --nms trt). Copies the first num_detections
 *                             rows whose score passes the threshold (config: cluster-mode=4).
 *
 * The per-class threshold is nvinfer's pre-cluster-threshold (the one value nvinfer hands a
 * parser); the other parameters are compile-time macros that the generated Makefile sets from the
 * model's DetectorSpec. Boxes are returned in network-input pixels (nvinfer scales them to the
 * frame); class ids index the labels file, whose line 0 is BACKGROUND. Scores and boxes may be
 * FP32 or FP16 tensors; classes and counts INT32 (or FP32 as BatchedNMS writes them).
 *
 * Build with -ffp-contract=off so the IoU is rounded exactly like numpy's float32 arithmetic.
 */
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "nvdsinfer_custom_impl.h"

#ifndef SSD_EDGE_IOU_THRESHOLD
#define SSD_EDGE_IOU_THRESHOLD 0.45f
#endif
#ifndef SSD_EDGE_CANDIDATE_SIZE
#define SSD_EDGE_CANDIDATE_SIZE 200
#endif
#ifndef SSD_EDGE_TOP_K
#define SSD_EDGE_TOP_K -1
#endif
#ifndef SSD_EDGE_MAX_DETECTIONS
#define SSD_EDGE_MAX_DETECTIONS 200
#endif

namespace {

const float kIouEps = 1e-5f;  // pytorch-ssd's iou_of adds this to the union

float halfToFloat(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1fu) {
        bits = sign | 0x7f800000u | (man << 13);                 // inf / nan
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);        // normal
    } else if (man == 0) {
        bits = sign;                                             // zero
    } else {                                                     // subnormal: normalise
        exp = 113u;
        while (!(man & 0x400u)) { man <<= 1; --exp; }
        bits = sign | (exp << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    return f;
}

// A layer read as float32 whatever its element type (a copy only when it is not already FP32).
class FloatView {
public:
    bool init(const NvDsInferLayerInfo &layer)
    {
        n_ = layer.inferDims.numElements;
        if (layer.dataType == FLOAT) {
            data_ = static_cast<const float *>(layer.buffer);
            return true;
        }
        copy_.resize(n_);
        for (unsigned int i = 0; i < n_; ++i) {
            if (layer.dataType == HALF)
                copy_[i] = halfToFloat(static_cast<const uint16_t *>(layer.buffer)[i]);
            else if (layer.dataType == INT32)
                copy_[i] = (float)static_cast<const int32_t *>(layer.buffer)[i];
            else
                return false;
        }
        data_ = copy_.data();
        return true;
    }
    float operator[](size_t i) const { return data_[i]; }
    const float *ptr(size_t i) const { return data_ + i; }
    unsigned int size() const { return n_; }

private:
    const float *data_ = nullptr;
    std::vector<float> copy_;
    unsigned int n_ = 0;
};

const NvDsInferLayerInfo *findLayer(std::vector<NvDsInferLayerInfo> const &layers, const char *name)
{
    for (auto const &layer : layers)
        if (layer.layerName && std::strcmp(layer.layerName, name) == 0)
            return &layer;
    return nullptr;
}

bool readLayers(std::vector<NvDsInferLayerInfo> const &layers, const char *const *names,
                size_t count, FloatView *views)
{
    for (size_t i = 0; i < count; ++i) {
        const NvDsInferLayerInfo *layer = findLayer(layers, names[i]);
        if (!layer) {
            std::fprintf(stderr, "ssd-edge parser: expected an output layer named '%s'; got:", names[i]);
            for (auto const &l : layers)
                std::fprintf(stderr, " '%s'", l.layerName ? l.layerName : "?");
            std::fprintf(stderr, " (check output-blob-names and parse-bbox-func-name)\n");
            return false;
        }
        if (!views[i].init(*layer)) {
            std::fprintf(stderr, "ssd-edge parser: layer '%s' has data type %d; expected FP32, FP16 or INT32\n",
                         names[i], (int)layer->dataType);
            return false;
        }
    }
    return true;
}

float threshold(NvDsInferParseDetectionParams const &params, unsigned int cls)
{
    auto const &t = params.perClassPreclusterThreshold;
    if (cls < t.size())
        return t[cls];
    return t.empty() ? 0.0f : t.back();
}

// IoU of a kept box and a candidate, rounded as ssd_edge.nms computes it in float32.
float iouLikeNumpy(const float *kept, const float *cand)
{
    float w = std::min(kept[2], cand[2]) - std::max(kept[0], cand[0]);
    float h = std::min(kept[3], cand[3]) - std::max(kept[1], cand[1]);
    w = std::max(w, 0.0f);
    h = std::max(h, 0.0f);
    const float inter = w * h;
    const float areaKept = std::max(kept[2] - kept[0], 0.0f) * std::max(kept[3] - kept[1], 0.0f);
    const float areaCand = std::max(cand[2] - cand[0], 0.0f) * std::max(cand[3] - cand[1], 0.0f);
    const float unionEps = (areaKept + (areaCand + kIouEps)) - inter;
    return inter / unionEps;
}

struct Kept {
    unsigned int cls;
    float score;
    const float *box;  // x1 y1 x2 y2 normalised
};

void emit(std::vector<NvDsInferObjectDetectionInfo> &out, const Kept &k, NvDsInferNetworkInfo const &net)
{
    NvDsInferObjectDetectionInfo obj;
    std::memset(&obj, 0, sizeof(obj));  // zero any field a newer DeepStream appends
    const float w = (float)net.width, h = (float)net.height;
    obj.classId = k.cls;
    obj.detectionConfidence = k.score;
    obj.left = k.box[0] * w;
    obj.top = k.box[1] * h;
    obj.width = (k.box[2] - k.box[0]) * w;
    obj.height = (k.box[3] - k.box[1]) * h;
    out.push_back(obj);
}

// Per class: threshold, stable sort, candidate cut, greedy NMS, top_k (the Predictor's loop).
void nmsOneClass(const FloatView &scores, const FloatView &boxes, unsigned int numPriors,
                 unsigned int numClasses, unsigned int cls, float thr, std::vector<Kept> &kept)
{
    std::vector<unsigned int> cand;
    for (unsigned int p = 0; p < numPriors; ++p)
        if (scores[(size_t)p * numClasses + cls] > thr)
            cand.push_back(p);
    std::stable_sort(cand.begin(), cand.end(), [&](unsigned int a, unsigned int b) {
        return scores[(size_t)a * numClasses + cls] > scores[(size_t)b * numClasses + cls];
    });
    if (SSD_EDGE_CANDIDATE_SIZE > 0 && cand.size() > (size_t)SSD_EDGE_CANDIDATE_SIZE)
        cand.resize(SSD_EDGE_CANDIDATE_SIZE);
    const size_t first = kept.size();
    for (unsigned int p : cand) {
        if (SSD_EDGE_TOP_K > 0 && kept.size() - first >= (size_t)SSD_EDGE_TOP_K)
            break;
        const float *box = boxes.ptr((size_t)p * 4);
        bool keep = true;
        for (size_t k = first; k < kept.size() && keep; ++k)
            keep = !(iouLikeNumpy(kept[k].box, box) > SSD_EDGE_IOU_THRESHOLD);
        if (keep)
            kept.push_back(Kept{cls, scores[(size_t)p * numClasses + cls], box});
    }
}

// Overall cap: the highest scores win (ties: earlier in class-major order), order preserved.
void capDetections(std::vector<Kept> &kept)
{
    if (SSD_EDGE_MAX_DETECTIONS < 0 || kept.size() <= (size_t)SSD_EDGE_MAX_DETECTIONS)
        return;
    std::vector<size_t> idx(kept.size());
    for (size_t i = 0; i < idx.size(); ++i)
        idx[i] = i;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return kept[a].score > kept[b].score; });
    idx.resize(SSD_EDGE_MAX_DETECTIONS);
    std::sort(idx.begin(), idx.end());
    std::vector<Kept> capped;
    for (size_t i : idx)
        capped.push_back(kept[i]);
    kept.swap(capped);
}

}  // namespace

extern "C" bool NvDsInferParseSsdEdge(std::vector<NvDsInferLayerInfo> const &outputLayersInfo,
                                      NvDsInferNetworkInfo const &networkInfo,
                                      NvDsInferParseDetectionParams const &detectionParams,
                                      std::vector<NvDsInferObjectDetectionInfo> &objectList)
{
    static const char *const names[] = {"scores", "boxes"};
    FloatView v[2];
    if (!readLayers(outputLayersInfo, names, 2, v))
        return false;
    const unsigned int numPriors = v[1].size() / 4;
    if (numPriors == 0 || v[1].size() % 4 != 0 || v[0].size() % numPriors != 0) {
        std::fprintf(stderr, "ssd-edge parser: expected scores [P, C] and boxes [P, 4]; got %u and %u elements\n",
                     v[0].size(), v[1].size());
        return false;
    }
    const unsigned int numClasses = v[0].size() / numPriors;
    if (detectionParams.numClassesConfigured != numClasses) {
        std::fprintf(stderr, "ssd-edge parser: num-detected-classes=%u but the model has %u classes "
                     "(BACKGROUND included); set num-detected-classes=%u\n",
                     detectionParams.numClassesConfigured, numClasses, numClasses);
        return false;
    }
    std::vector<Kept> kept;
    for (unsigned int c = 1; c < numClasses; ++c)
        nmsOneClass(v[0], v[1], numPriors, numClasses, c, threshold(detectionParams, c), kept);
    capDetections(kept);
    for (auto const &k : kept)
        emit(objectList, k, networkInfo);
    return true;
}

extern "C" bool NvDsInferParseSsdEdgeNms(std::vector<NvDsInferLayerInfo> const &outputLayersInfo,
                                         NvDsInferNetworkInfo const &networkInfo,
                                         NvDsInferParseDetectionParams const &detectionParams,
                                         std::vector<NvDsInferObjectDetectionInfo> &objectList)
{
    static const char *const names[] = {"num_detections", "detection_boxes", "detection_scores",
                                        "detection_classes"};
    FloatView v[4];
    if (!readLayers(outputLayersInfo, names, 4, v))
        return false;
    const unsigned int k = v[2].size();
    if (v[0].size() < 1 || v[1].size() != 4 * k || v[3].size() != k) {
        std::fprintf(stderr, "ssd-edge parser: expected num_detections [1], detection_boxes [K, 4], "
                     "detection_scores [K], detection_classes [K]; got %u, %u, %u, %u elements\n",
                     v[0].size(), v[1].size(), v[2].size(), v[3].size());
        return false;
    }
    const unsigned int n = std::min(k, (unsigned int)std::max(0.0f, v[0][0]));
    for (unsigned int i = 0; i < n; ++i) {
        const int cls = (int)std::lround(v[3][i]);
        if (cls <= 0 || (unsigned int)cls >= detectionParams.numClassesConfigured)
            continue;  // BACKGROUND, padding, or a class the config does not know
        if (v[2][i] > threshold(detectionParams, (unsigned int)cls))
            emit(objectList, Kept{(unsigned int)cls, v[2][i], v[1].ptr((size_t)i * 4)}, networkInfo);
    }
    return true;
}

CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE(NvDsInferParseSsdEdge);
CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE(NvDsInferParseSsdEdgeNms);
