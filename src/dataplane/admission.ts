// The admission decision lives in the model (src/model/admission.ts), where the path tracer calls
// it too; the data plane's modules import it from here.
export * from '../model/admission.js';
