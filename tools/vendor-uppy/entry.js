// What the front end takes from Uppy: the core, the S3 multipart uploader (driven by our
// own /api/videos/uploads endpoints) and Golden Retriever (resume after a reload).
// scripts/vendor-uppy.sh bundles this file into crates/web/ui/assets/vendor/uppy.min.js.
export { default as Uppy } from '@uppy/core';
export { default as AwsS3 } from '@uppy/aws-s3';
export { default as GoldenRetriever } from '@uppy/golden-retriever';
