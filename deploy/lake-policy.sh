#!/bin/sh
# Usage: lake-policy.sh BUCKET > policy.json
#
# The IAM policy of the pipeline's own MinIO user (minio-init creates it with `mc admin policy create`): the
# lakehouse's bucket and its objects, nothing else. MinIO's built-in readwrite covers every bucket, so the
# pipeline's credentials would read and overwrite whatever else the store holds.
#
# Actions, for the lakehouse (deltalake): list the bucket, read, write (commits are conditional PUTs, large
# files multipart uploads) and delete (vacuum). Nothing that changes the bucket itself: no bucket policy,
# versioning or lifecycle, no DeleteBucket.
#
# Builtins only (printf, case): it runs in the minio/mc image, which has a shell and little else.
set -eu

bucket=${1-}
# An S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens, a letter or digit at each end).
# Checked because it lands in the document: a `*` would widen the policy to other buckets, a quote break it.
case $bucket in
    *[!a-z0-9.-]* | [!a-z0-9]* | *[!a-z0-9])
        echo "lake-policy: '$bucket' is not an S3 bucket name (RETAIL_BUCKET)" >&2
        exit 2
        ;;
esac
if [ "${#bucket}" -lt 3 ] || [ "${#bucket}" -gt 63 ]; then
    echo "lake-policy: '$bucket' is not an S3 bucket name (3 to 63 characters; RETAIL_BUCKET)" >&2
    exit 2
fi

printf '{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "TheLakehouseBucket",
      "Effect": "Allow",
      "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
      "Resource": ["arn:aws:s3:::%s"]
    },
    {
      "Sid": "ItsObjects",
      "Effect": "Allow",
      "Action": [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts"
      ],
      "Resource": ["arn:aws:s3:::%s/*"]
    }
  ]
}
' "$bucket" "$bucket"
