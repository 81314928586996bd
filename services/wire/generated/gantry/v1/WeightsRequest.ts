// Original file: proto/gantry/v1/weights.proto


/**
 * StreamWeights takes no arguments: it always returns the whole current state.
 */
export interface WeightsRequest {
}

/**
 * StreamWeights takes no arguments: it always returns the whole current state.
 */
export interface WeightsRequest__Output {
}
