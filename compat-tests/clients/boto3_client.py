"""Runs one S3 operation with boto3 against an endpoint; prints the result on stdout, exits non-zero on failure.

Usage: boto3_client.py ENDPOINT ACCESS_KEY SECRET_KEY OP BUCKET KEY [FILE]
"""
import sys

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config


def main() -> None:
    endpoint, access, secret, op, bucket, key = sys.argv[1:7]
    path = sys.argv[7] if len(sys.argv) > 7 else None
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    small_parts = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    if op == "put":
        s3.upload_file(path, bucket, key)
    elif op == "multipart":
        s3.upload_file(path, bucket, key, Config=small_parts)
    elif op == "get":
        s3.download_file(bucket, key, path)
    elif op == "head":
        print(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    elif op == "range":
        body = s3.get_object(Bucket=bucket, Key=key, Range="bytes=100-199")["Body"].read()
        with open(path, "wb") as out:
            out.write(body)
    elif op == "list":
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", []):
            print(item["Key"])
    elif op == "presign":
        print(s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300))
    elif op == "delete":
        s3.delete_object(Bucket=bucket, Key=key)
    else:
        raise SystemExit(f"unknown op {op}")


if __name__ == "__main__":
    main()
