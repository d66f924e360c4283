declare module "dcmjs";
