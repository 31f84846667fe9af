/*
 * Test double of DeepStream's nvdsinfer.h + nvdsinfer_custom_impl.h: ONLY the types the ssd-edge
 * parser uses, with the member names and meanings of DeepStream 6.x/7.x (sources/includes).
 * Written from the DeepStream API documentation for compiling and running the parser with g++
 * on a machine without DeepStream; the real headers are used on the device (see the Makefile).
 */
#ifndef SSD_EDGE_NVDSINFER_TEST_H
#define SSD_EDGE_NVDSINFER_TEST_H

#include <vector>

#define NVDSINFER_MAX_DIMS 8

typedef struct {
    unsigned int numDims;
    unsigned int d[NVDSINFER_MAX_DIMS];
    unsigned int numElements;  /* per frame: nvinfer hands the parser one batch item */
} NvDsInferDims;

typedef enum { FLOAT = 0, HALF = 1, INT8 = 2, INT32 = 3 } NvDsInferDataType;

typedef struct {
    NvDsInferDataType dataType;
    NvDsInferDims inferDims;
    int bindingIndex;
    const char *layerName;
    void *buffer;              /* host copy of this frame's output */
    int isInput;
} NvDsInferLayerInfo;

typedef struct {
    unsigned int width;        /* network input size in pixels */
    unsigned int height;
    unsigned int channels;
} NvDsInferNetworkInfo;

typedef struct {
    unsigned int classId;
    float left;                /* network-input pixels */
    float top;
    float width;
    float height;
    float detectionConfidence;
} NvDsInferObjectDetectionInfo;

typedef NvDsInferObjectDetectionInfo NvDsInferParseObjectInfo;

typedef struct {
    unsigned int numClassesConfigured;                 /* num-detected-classes */
    std::vector<float> perClassPreclusterThreshold;    /* pre-cluster-threshold per class */
    std::vector<float> perClassPostclusterThreshold;
} NvDsInferParseDetectionParams;

typedef bool (*NvDsInferParseCustomFunc)(
    std::vector<NvDsInferLayerInfo> const &outputLayersInfo,
    NvDsInferNetworkInfo const &networkInfo,
    NvDsInferParseDetectionParams const &detectionParams,
    std::vector<NvDsInferObjectDetectionInfo> &objectList);

/* Same job as DeepStream's macro: fail to compile when the signature is wrong. */
#define CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE(func) \
    static NvDsInferParseCustomFunc const ssd_edge_check_##func __attribute__((unused)) = func

#endif
